package ui

import (
	"fmt"
	"time"
)

// Chart is a bar chart laid out for an SVG viewBox: the template only
// draws what is computed here.
type Chart struct {
	Width, Height float64
	Label         string // what the chart shows, for screen readers
	Bars          []Bar
	Ticks         []Tick // horizontal grid lines with their values
	Days          []Tick // labels under the bars
	Legend        []Legend
	Empty         bool
}

// Bar is one rectangle.
type Bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// Tick is a label at a position.
type Tick struct {
	X, Y  float64
	Label string
}

// Legend names a series.
type Legend struct {
	Class, Label string
}

// Series is one stacked series of a daily chart.
type Series struct {
	Class, Label string
	Values       []float64 // one per day
	Format       func(float64) string
}

// chart geometry
const (
	chartW, chartH = 720.0, 220.0
	padL, padR     = 48.0, 12.0
	padT, padB     = 12.0, 28.0
)

// dailyChart stacks series over the days ending today (UTC), oldest first.
func dailyChart(label string, today time.Time, days int, series []Series) Chart {
	c := Chart{Width: chartW, Height: chartH, Label: label}
	start := today.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	max := 0.0
	for d := 0; d < days; d++ {
		sum := 0.0
		for _, s := range series {
			sum += s.Values[d]
		}
		if sum > max {
			max = sum
		}
	}
	c.Empty = max == 0
	top := niceCeil(max)
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	slot := plotW / float64(days)
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		c.Ticks = append(c.Ticks, Tick{X: padL - 8, Y: padT + plotH - plotH*float64(i)/4, Label: trimFloat(v)})
	}
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d)
		x := padL + slot*float64(d)
		if d%2 == (days-1)%2 {
			c.Days = append(c.Days, Tick{X: x + slot/2, Y: chartH - 8, Label: day.Format("2 Jan")})
		}
		y := padT + plotH
		for _, s := range series {
			v := s.Values[d]
			if v <= 0 {
				continue
			}
			h := plotH * v / top
			y -= h
			f := s.Format
			if f == nil {
				f = trimFloat
			}
			c.Bars = append(c.Bars, Bar{X: x + slot*0.18, Y: y, W: slot * 0.64, H: h, Class: s.Class,
				Title: fmt.Sprintf("%s: %s %s", day.Format("2 Jan"), f(v), s.Label)})
		}
	}
	for _, s := range series {
		c.Legend = append(c.Legend, Legend{Class: s.Class, Label: s.Label})
	}
	return c
}

// dayIndex returns which of the days ending today t falls on, or -1.
func dayIndex(today, t time.Time, days int) int {
	end := today.UTC().Truncate(24 * time.Hour)
	d := int(end.Sub(t.UTC().Truncate(24*time.Hour)) / (24 * time.Hour))
	if d < 0 || d >= days {
		return -1
	}
	return days - 1 - d
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, at least
// 4, so that four grid lines fall on round numbers.
func niceCeil(v float64) float64 {
	if v <= 4 {
		return 4
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 4, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}
