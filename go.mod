module github.com/kestrel-go/kestrel

go 1.26
