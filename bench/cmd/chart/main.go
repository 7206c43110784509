// Command chart renders the suite's JSON results as an SVG: one panel per
// test, each with its own scale, a horizontal bar per server labelled with
// the server's name and its median requests per second, so that every row
// of the tables is readable, from the TechEmpower tests at a million
// requests a second to 1 MB files over TLS at a few hundred:
//
//	go run ./cmd/chart -in results.json -out results.svg -title "2 CPUs, 2026-11-25"
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/kestrel-go/kestrel/bench/internal/stats"
)

// result is the part of the suite's Result the chart reads.
type result struct {
	Test, Server   string
	RequestsPerSec float64
}

// colors keeps a server's color the same in every panel: kestrel in
// purples, the others apart.
var colors = map[string]color.RGBA{
	"kestrel-native":  {R: 0x51, G: 0x2b, B: 0xd4, A: 0xff},
	"kestrel-handler": {R: 0x9b, G: 0x7b, B: 0xf0, A: 0xff},
	"kestrel-static":  {R: 0x51, G: 0x2b, B: 0xd4, A: 0xff},
	"fasthttp":        {R: 0x2a, G: 0x9d, B: 0x8f, A: 0xff},
	"nethttp":         {R: 0xe7, G: 0x6f, B: 0x51, A: 0xff},
	"nethttp-static":  {R: 0xe7, G: 0x6f, B: 0x51, A: 0xff},
	"nginx":           {R: 0x2b, G: 0x8a, B: 0x3e, A: 0xff},
	"h2o":             {R: 0xc9, G: 0x3b, B: 0x7a, A: 0xff},
	"grpc-kestrel":    {R: 0x51, G: 0x2b, B: 0xd4, A: 0xff},
	"grpc-nethttp":    {R: 0xe7, G: 0x6f, B: 0x51, A: 0xff},
	"grpc-go":         {R: 0x26, G: 0x6b, B: 0xa8, A: 0xff},

	"kestrel-native-metrics": {R: 0x7a, G: 0x5a, B: 0xe0, A: 0xff},
	"kestrel-h3":             {R: 0x51, G: 0x2b, B: 0xd4, A: 0xff},
	"kestrel-h2":             {R: 0x9b, G: 0x7b, B: 0xf0, A: 0xff},
	"quicgo-h3":              {R: 0x26, G: 0x6b, B: 0xa8, A: 0xff},
}

// otherColor draws a server the table above does not know yet, so that
// no bar is ever left out.
var otherColor = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}

// colorOf is the server's color.
func colorOf(server string) color.RGBA {
	if c, ok := colors[server]; ok {
		return c
	}
	return otherColor
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// ("25", not "25.00").
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
}

const (
	columns     = 2
	panelWidth  = vg.Length(400)
	panelHeight = vg.Length(128)
	headerSpace = vg.Length(56)
)

func main() {
	in := flag.String("in", "results.json", "the suite's -json output")
	out := flag.String("out", "results.svg", "the SVG to write")
	title := flag.String("title", "", "a subtitle: the machine and date")
	flag.Parse()
	if err := run(*in, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, out, title string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var results []result
	if err := json.Unmarshal(data, &results); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var tests []string
	servers := map[string][]string{} // by test, in the order measured
	samples := map[[2]string][]float64{}
	for _, r := range results {
		if r.RequestsPerSec == 0 {
			continue // the idle-memory rows
		}
		if !slices.Contains(tests, r.Test) {
			tests = append(tests, r.Test)
		}
		if !slices.Contains(servers[r.Test], r.Server) {
			servers[r.Test] = append(servers[r.Test], r.Server)
		}
		k := [2]string{r.Test, r.Server}
		samples[k] = append(samples[k], r.RequestsPerSec)
	}
	if len(tests) == 0 {
		return fmt.Errorf("%s has no throughput results", in)
	}

	rows := (len(tests) + columns - 1) / columns
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, columns)
	}
	for i, t := range tests {
		medians := make([]float64, len(servers[t]))
		for j, s := range servers[t] {
			medians[j] = stats.Median(samples[[2]string{t, s}])
		}
		p, err := panel(t, servers[t], medians)
		if err != nil {
			return err
		}
		plots[i/columns][i%columns] = p
	}

	width, height := columns*panelWidth, vg.Length(rows)*panelHeight+headerSpace
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	style := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 12),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XCenter,
	}
	dc.FillText(style, vg.Point{X: width / 2, Y: height - 18}, "Requests per second (median of the rounds), higher is better; each panel has its own scale")
	if title != "" {
		style.Font.Size = 10
		dc.FillText(style, vg.Point{X: width / 2, Y: height - 34}, title)
	}
	tiles := draw.Tiles{Rows: rows, Cols: columns, PadTop: headerSpace, PadBottom: 6, PadLeft: 6, PadRight: 12, PadX: 24, PadY: 14}
	canvases := plot.Align(plots, tiles, dc)
	for j := range plots {
		for i, p := range plots[j] {
			if p != nil {
				p.Draw(canvases[j][i])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panel draws one test: a bar per server, named on the left, its value
// at the bar's end.
func panel(test string, servers []string, values []float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = test
	p.Title.TextStyle.Font.Size = 10
	p.X.Label.Text = "thousand requests/s"
	p.X.Label.TextStyle.Font.Size = 8
	p.X.Tick.Label.Font.Size = 7
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Label.Font.Size = 8
	var labels plotter.XYLabels
	top := 0.0
	for j, v := range values {
		k := v / 1000
		bars, err := plotter.NewBarChart(plotter.Values{k}, vg.Points(13))
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.XMin = float64(len(values) - 1 - j) // the first server on top
		bars.Color = colorOf(servers[j])
		bars.LineStyle.Width = 0
		p.Add(bars)
		labels.XYs = append(labels.XYs, plotter.XY{X: k, Y: bars.XMin})
		labels.Labels = append(labels.Labels, format(k))
		top = max(top, k)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = 8
		l.TextStyle[i].YAlign = draw.YCenter
	}
	l.Offset = vg.Point{X: 3}
	p.Add(l)
	names := slices.Clone(servers)
	slices.Reverse(names)
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, top*1.22
	return p, nil
}

// format writes thousands of requests a second with three figures.
func format(k float64) string {
	switch {
	case k >= 100:
		return fmt.Sprintf("%.0fk", k)
	case k >= 10:
		return fmt.Sprintf("%.1fk", k)
	default:
		return fmt.Sprintf("%.2fk", k)
	}
}
