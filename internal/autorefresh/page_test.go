package autorefresh

import "testing"

func TestPageFits(t *testing.T) {
	for _, c := range []struct {
		sizes []int
		max   int
		want  int
	}{
		{nil, 10, 0},
		{[]int{3, 3, 3}, 10, 3},
		{[]int{3, 3, 3, 3}, 10, 3}, // the fourth would pass 10
		{[]int{4, 6, 1}, 10, 2},    // exactly at the bound fits
		{[]int{50, 1}, 10, 1},      // a first item over the bound comes alone
		{[]int{1, 50, 1}, 10, 1},
	} {
		if got := PageFits(func(i int) int { return c.sizes[i] }, len(c.sizes), c.max); got != c.want {
			t.Errorf("PageFits(%v, %d) = %d, want %d", c.sizes, c.max, got, c.want)
		}
	}
}
