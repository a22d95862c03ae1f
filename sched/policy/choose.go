package policy

import (
	"cmp"
	"slices"
)

// candidate is one CDN of one region as the order sees it.
type candidate struct {
	cdn        string
	composite  float64
	worst      Item
	worstScore float64
	failed     bool
	belowFloor bool
	marginal   float64 // cost per GB now
	costScore  float64
	value      float64
}

// candidate says whether the CDN may be chosen: neither failed nor under
// the floor (disabled ones never reach an order).
func (c *candidate) candidate() bool { return !c.failed && !c.belowFloor }

// rank orders one region's CDNs (disabled ones already left out): the
// candidates by value, then the excluded ones by value; it sets each
// one's costScore and value. costWeight 0 ranks on quality alone.
func rank(cs []candidate, floor, costWeight float64) []candidate {
	maxCost := 0.0
	for i := range cs {
		cs[i].belowFloor = cs[i].worst != "" && cs[i].worstScore < floor
		if cs[i].candidate() {
			maxCost = max(maxCost, cs[i].marginal)
		}
	}
	for i := range cs {
		c := &cs[i]
		c.costScore = 0
		if maxCost > 0 {
			c.costScore = min(100*c.marginal/maxCost, 100) // an excluded one may cost more: capped
		}
		c.value = c.composite - costWeight*c.costScore
	}
	slices.SortStableFunc(cs, func(a, b candidate) int {
		if a.candidate() != b.candidate() {
			if a.candidate() {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.value, a.value), cmp.Compare(b.composite, a.composite), cmp.Compare(a.cdn, b.cdn))
	})
	return cs
}
