package settings

import (
	"bytes"
	"errors"
)

// utf8BOM is the byte order mark Visual Studio writes at the start of
// appsettings.json.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// errUnclosedComment is the error of a /* comment without its */.
var errUnclosedComment = errors.New("a /* comment is not closed with */")

// stripJSONC returns a copy of data without what ASP.NET's JSON
// configuration reader skips (System.Text.Json with
// JsonCommentHandling.Skip and AllowTrailingCommas): a leading UTF-8 byte
// order mark, // comments to the end of the line and /* */ comments
// outside strings, and a comma after the last member of an object or
// element of a list. Each byte removed is replaced by a space, line breaks
// inside comments are kept, so every other byte keeps its offset, line
// and column for error messages.
//
// As in System.Text.Json, a comma is only dropped where it follows a value
// and comes before a closing '}' or ']' (comments may lie between): "[,]",
// "[1,,]" and a comma after the top-level value are left for the JSON
// decoder to refuse. A /* comment that is not closed is an error, at the
// offset of its "/*". What is not a comment ("/" followed by anything
// else) is left as it is for the decoder to refuse.
func stripJSONC(data []byte) (out []byte, errOffset int, err error) {
	out = bytes.Clone(data)
	i := 0
	if bytes.HasPrefix(out, utf8BOM) {
		copy(out, "   ")
		i = len(utf8BOM)
	}
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			if out[k] != '\n' && out[k] != '\r' {
				out[k] = ' '
			}
		}
	}
	var last byte = 0  // the last significant byte: a value's last, or a delimiter
	pendingComma := -1 // a comma that may turn out to be trailing
	depth := 0         // of objects and lists open
	for i < len(out) {
		c := out[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			j := i
			for j < len(out) && out[j] != '\n' && out[j] != '\r' {
				j++
			}
			blank(i, j)
			i = j
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				return nil, i, errUnclosedComment
			}
			j := i + 2 + end + 2
			blank(i, j)
			i = j
		case c == ',':
			if pendingComma < 0 && last != 0 && last != ',' && last != '[' && last != '{' && last != ':' {
				pendingComma = i
			} else {
				pendingComma = -1 // two commas, or a comma without a value before it: the decoder's to refuse
			}
			last = ','
			i++
		case c == '{' || c == '[':
			depth++
			pendingComma = -1
			last = c
			i++
		case c == '}' || c == ']':
			if pendingComma >= 0 && depth > 0 {
				out[pendingComma] = ' '
			}
			pendingComma = -1
			depth--
			last = c
			i++
		case c == '"':
			j := i + 1
			for j < len(out) && out[j] != '"' {
				if out[j] == '\\' {
					j++
				}
				j++
			}
			pendingComma = -1
			last = '"'
			i = j + 1
		default:
			pendingComma = -1
			last = c
			i++
		}
	}
	return out, 0, nil
}
