module github.com/kestrel-go/kestrel

go 1.26.0

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	golang.org/x/sys v0.50.0
)
