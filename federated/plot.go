package federated

import (
	"bytes"
	"fmt"
	"html"
)

// PlotSVG draws a training run: test accuracy per round (a line, left
// axis, 0..1) and participation per round (bars: updates aggregated out
// of participants). It is a standalone SVG document.
func PlotSVG(st *State, title string) []byte {
	const w, h, left, right, top, bottom = 640.0, 320.0, 50.0, 20.0, 30.0, 40.0
	pw, ph := w-left-right, h-top-bottom
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13">%s</text>`+"\n", left, html.EscapeString(title))
	n := len(st.Rounds)
	vaults := max(len(st.Vaults), 1)
	// Axes and grid.
	for i := 0; i <= 4; i++ {
		y := top + ph - ph*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left-4, y+4, float64(i)/4)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">round</text>`+"\n", left+pw/2, h-6)
	if n == 0 {
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	slot := pw / float64(n)
	for i, r := range st.Rounds {
		x := left + slot*float64(i)
		bh := ph * float64(r.Aggregated) / float64(vaults)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#9ecae1"><title>round %d: %d of %d vaults aggregated, %d updates</title></rect>`+"\n",
			x+slot*0.15, top+ph-bh, slot*0.7, bh, r.Round, r.Aggregated, vaults, r.Updates)
		if n <= 30 || r.Round%5 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x+slot/2, top+ph+14, r.Round)
		}
	}
	var path bytes.Buffer
	for i, r := range st.Rounds {
		if r.Accuracy == nil {
			continue
		}
		cmd := "L"
		if path.Len() == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, left+slot*(float64(i)+0.5), top+ph-ph**r.Accuracy)
	}
	if path.Len() > 0 {
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#d62728" stroke-width="2"/>`+"\n", bytes.TrimSpace(path.Bytes()))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#d62728">— test accuracy</text>`+"\n", left+pw-330, top-8)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#3182bd">▮ share of vaults aggregated</text>`+"\n", left+pw-200, top-8)
	b.WriteString("</svg>\n")
	return b.Bytes()
}
