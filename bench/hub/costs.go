package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

// probe reads what a registry on the engines has asked of them so far: S3
// requests in its bucket (SeaweedFS's own counters and processing time)
// and, for strata, the statements run in its PostgreSQL database
// (pg_stat_statements). The difference of two readings is what a scenario
// cost; with -engines the bench prints it per image or per blob.
type probe struct {
	weed   *engines.SeaweedFS
	pg     *engines.Postgres
	bucket string
	db     string // "" for distribution
}

type reading struct {
	s3  engines.RequestStats
	sql map[string]engines.Statement
}

func (p *probe) read(ctx context.Context) (reading, error) {
	var r reading
	var err error
	if r.s3, err = p.weed.S3Requests(ctx, p.bucket); err != nil {
		return r, err
	}
	if p.db != "" {
		r.sql, err = p.pg.Statements(ctx, p.db)
	}
	return r, err
}

// cost is what one scenario asked of the engines, added up over rounds.
type cost struct {
	units  float64 // images or blobs the scenario moved, over all rounds
	s3     map[string][2]float64
	sql    map[string][2]float64 // statement: calls, ms
	rounds int
}

func (c *cost) add(before, after reading, units float64) {
	if c.s3 == nil {
		c.s3, c.sql = map[string][2]float64{}, map[string][2]float64{}
	}
	c.units += units
	c.rounds++
	for k, a := range after.s3 {
		b := before.s3[k]
		e := c.s3[k]
		c.s3[k] = [2]float64{e[0] + float64(a.Count-b.Count), e[1] + (a.Seconds-b.Seconds)*1000}
	}
	for q, a := range after.sql {
		b := before.sql[q]
		e := c.sql[q]
		c.sql[q] = [2]float64{e[0] + float64(a.Calls-b.Calls), e[1] + a.Ms - b.Ms}
	}
}

// print writes the cost per unit: S3 requests by type with the store's
// mean milliseconds for each, then PostgreSQL's transactions (COMMITs) and
// the statements that ran most often.
func (c *cost) print(label, unit string) {
	if c == nil || c.units == 0 {
		return
	}
	var parts []string
	var total float64
	for _, k := range sortedKeys(c.s3) {
		v := c.s3[k]
		if v[0] == 0 {
			continue
		}
		total += v[0]
		parts = append(parts, fmt.Sprintf("%s %.2f (%.1f ms)", k, v[0]/c.units, v[1]/v[0]))
	}
	fmt.Printf("  %s, per %s: %.2f S3 requests: %s\n", label, unit, total/c.units, strings.Join(parts, ", "))
	if len(c.sql) == 0 {
		return
	}
	type stmt struct {
		q         string
		calls, ms float64
	}
	var stmts []stmt
	var calls, ms float64
	for q, v := range c.sql {
		if v[0] > 0 {
			stmts = append(stmts, stmt{q, v[0], v[1]})
			calls += v[0]
			ms += v[1]
		}
	}
	sort.Slice(stmts, func(i, j int) bool { return stmts[i].calls > stmts[j].calls })
	commits := c.sql["COMMIT"] // pg_stat_statements keeps the case pgx sent
	if lower := c.sql["commit"]; lower[0] > 0 {
		commits = [2]float64{commits[0] + lower[0], commits[1] + lower[1]}
	}
	fmt.Printf("    PostgreSQL: %.2f transactions (COMMIT %.2f ms each), %.2f statements, %.2f ms in all\n",
		commits[0]/c.units, commits[1]/max(commits[0], 1), calls/c.units, ms/c.units)
	for _, s := range stmts[:min(len(stmts), 8)] {
		q := strings.Join(strings.Fields(s.q), " ")
		if len(q) > 90 {
			q = q[:90] + "..."
		}
		fmt.Printf("      %6.2f x %6.2f ms  %s\n", s.calls/c.units, s.ms/s.calls, q)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
