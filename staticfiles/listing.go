package staticfiles

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listingPage is the HTML of a directory listing; html/template escapes
// every name for its context.
var listingPage = template.Must(template.New("listing").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {{.Path}}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.3rem; font-weight: 600; word-break: break-all; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid #eee; }
th { font-weight: 600; color: #666; }
td.size, th.size { text-align: right; white-space: nowrap; }
td.time { white-space: nowrap; color: #666; }
a { color: #1a56c4; text-decoration: none; }
a:hover { text-decoration: underline; }
</style>
</head>
<body>
<h1>Index of {{.Path}}</h1>
<table>
<thead><tr><th>Name</th><th class="size">Size</th><th>Modified</th></tr></thead>
<tbody>
{{- if .Parent}}
<tr><td><a href="../">../</a></td><td class="size"></td><td class="time"></td></tr>
{{- end}}
{{- range .Entries}}
<tr><td><a href="{{.Href}}">{{.Name}}</a></td><td class="size">{{.Size}}</td><td class="time">{{.Modified}}</td></tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`))

type listingEntry struct {
	Name, Size, Modified string
	Href                 template.URL // escaped by url.URL, which also guards "a:b" names
	dir                  bool
}

// serveListing answers with the listing of the folder name: visible
// entries that lead to something servable, under names the handler takes
// in a URL, folders first, then by name.
func (h *Handler) serveListing(w http.ResponseWriter, r *http.Request, name string) {
	root := h.currentRoot()
	dir := rootName(name)
	f, err := root.Open(dir)
	if err != nil {
		h.failed(w, r, classify(err))
		return
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		h.failed(w, r, err)
		return
	}
	var entries []listingEntry
	for _, de := range des {
		n := de.Name()
		if _, _, status := cleanName(n); status != 0 {
			continue // hidden, or a name a URL may not carry (a backslash): its link would answer 404 or 400
		}
		fi, err := root.Stat(path.Join(dir, n)) // follows links, refuses those that leave the root
		if err != nil || !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		le := listingEntry{Name: n, Modified: fi.ModTime().UTC().Format(time.DateTime), dir: fi.IsDir()}
		href := (&url.URL{Path: n}).String()
		if le.dir {
			le.Name += "/"
			href += "/"
		} else {
			le.Size = humanSize(fi.Size())
		}
		le.Href = template.URL(href)
		entries = append(entries, le)
	}
	slices.SortFunc(entries, func(a, b listingEntry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	title := "/"
	if name != "" {
		title = "/" + name + "/"
	}
	var page bytes.Buffer
	err = listingPage.Execute(&page, struct {
		Path    string
		Parent  bool
		Entries []listingEntry
	}{title, name != "", entries})
	if err != nil {
		h.failed(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(page.Len()))
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(page.Bytes())
	}
}

// humanSize formats a byte count as the listing shows it.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
