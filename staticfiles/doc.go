// Package staticfiles serves the files of a folder over HTTP, as ASP.NET
// Core's UseStaticFiles and UseDefaultFiles and Caddy's file_server do.
//
// A [Handler] answers GET and HEAD (other methods get 405 with Allow) with
//
//   - files opened through an [os.Root]: nothing outside the folder is ever
//     served; a symbolic link that leads out of it, a name starting with a dot
//     (except the .well-known folder), on Windows a name in the form of an 8.3
//     short name (ENV~1 would open .env), and a directory without a default
//     file answer 404 as a missing file does; "..", encoded slashes ("%2F", "%5C"),
//     backslashes and NUL bytes in the path answer 400;
//   - a strong ETag (a SHA-256 of the content for files up to 16 MiB, the
//     modification time and size above that), Last-Modified, and conditional
//     requests: If-None-Match and If-Modified-Since answer 304, If-Match and
//     If-Unmodified-Since answer 412;
//   - single and multiple byte ranges (206, multipart/byteranges), If-Range,
//     and 416 with "Content-Range: bytes */size";
//   - precompressed siblings (app.js.br, app.js.zst, app.js.gz) chosen by the
//     request's Accept-Encoding and its q-values, and compression on the fly
//     (br, zstd, gzip) of text types when there is no sibling, with
//     "Vary: Accept-Encoding"; never for ranges, already-compressed types or
//     files under 1 KiB;
//   - a media type from a built-in table (the same on every OS),
//     "X-Content-Type-Options: nosniff", and Cache-Control chosen by pattern
//     ("immutable" for fingerprinted names such as app.3f2a9c1b.js);
//   - default files for folders, an optional single-page-app fallback and
//     optional directory listings.
//
// File bodies are copied from the *os.File (through an *io.SectionReader)
// to the ResponseWriter with io.Copy semantics, so a server whose
// ResponseWriter implements io.ReaderFrom can send them with sendfile.
//
// # What is cached and how changes are noticed
//
// The handler keeps up to [Options.MaxOpenFiles] files open with their
// metadata, ETag and headers, the default file of each folder, the
// precompressed siblings of each file and the compressed copies it made
// (up to [Options.MaxCompressedBytes] in all). On Linux every request
// checks its cached file with one fstat (size, modification and change
// times, link count), so a file changed in place, deleted or replaced by a
// rename is served correctly at once. A file that was missing is looked up
// again on every request, so a new file is served at once. What fstat
// cannot see (a renamed folder, a retargeted symbolic link, the root's
// included, a new default file or precompressed sibling; on other systems,
// deletions and replacements too) is checked against the path at most
// [Options.CheckInterval] (1 s by default) after it was last checked.
package staticfiles
