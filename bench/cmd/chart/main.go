// Command chart renders the suite's JSON results as an SVG bar chart of
// median requests per second, one group of bars per test:
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

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kestrel-go/kestrel/bench/internal/stats"
)

// result is the part of the suite's Result the chart reads.
type result struct {
	Test, Server   string
	RequestsPerSec float64
}

var colors = map[string]color.RGBA{
	"kestrel-native":  {R: 0x51, G: 0x2b, B: 0xd4, A: 0xff},
	"kestrel-handler": {R: 0x9b, G: 0x7b, B: 0xf0, A: 0xff},
	"fasthttp":        {R: 0x2a, G: 0x9d, B: 0x8f, A: 0xff},
	"nethttp":         {R: 0xe7, G: 0x6f, B: 0x51, A: 0xff},
}

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
	samples := map[[2]string][]float64{}
	for _, r := range results {
		if r.RequestsPerSec == 0 {
			continue // the idle-memory rows
		}
		if !slices.Contains(tests, r.Test) {
			tests = append(tests, r.Test)
		}
		k := [2]string{r.Test, r.Server}
		samples[k] = append(samples[k], r.RequestsPerSec)
	}
	if len(tests) == 0 {
		return fmt.Errorf("%s has no throughput results", in)
	}
	p := plot.New()
	p.Title.Text = "Requests per second (median), higher is better"
	if title != "" {
		p.Title.Text += "\n" + title
	}
	p.Y.Label.Text = "thousand requests/s"
	servers := []string{"kestrel-native", "kestrel-handler", "fasthttp", "nethttp"}
	w := vg.Points(11)
	for i, s := range servers {
		vals := make(plotter.Values, len(tests))
		for j, t := range tests {
			vals[j] = stats.Median(samples[[2]string{t, s}]) / 1000 // zero where absent (HTTPS has two servers)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = colors[s]
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-1.5)
		p.Add(bars)
		p.Legend.Add(s, bars)
	}
	p.Legend.Top = true
	p.NominalX(tests...)
	p.X.Tick.Label.Rotation = 0.35
	p.X.Tick.Label.XAlign = -0.9
	return p.Save(vg.Points(780), vg.Points(460), out)
}
