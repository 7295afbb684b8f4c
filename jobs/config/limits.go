package config

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/goccy/go-yaml/ast"
)

// DefaultMaxConfigSize bounds a config (or *.test.yaml) file, in bytes,
// unless NIGHTJAR_MAX_CONFIG_SIZE says otherwise: YAML parsing takes time
// and memory in proportion (a 10 MB config took 35 s and 1.9 GB), and a
// config written by hand is far smaller.
const DefaultMaxConfigSize = 1 << 20

// DefaultMaxConfigValues bounds the values a config stands for once its
// aliases are expanded, unless NIGHTJAR_MAX_CONFIG_VALUES says otherwise:
// nine levels of aliases repeating aliases (a "billion laughs") stand for
// 10^9 values from a few lines.
const DefaultMaxConfigValues = 1_000_000

// limitFromEnv reads a positive integer bound from the environment
// variable name, or returns def when it is unset.
func limitFromEnv(name string, def int64) (int64, error) {
	s, ok := os.LookupEnv(name)
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive number", name, s)
	}
	return n, nil
}

// readConfigFile reads path, failing with an error naming the file when it
// is larger than the size bound (read no further than that).
func readConfigFile(path string) ([]byte, error) {
	limit, err := limitFromEnv("NIGHTJAR_MAX_CONFIG_SIZE", DefaultMaxConfigSize)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes (NIGHTJAR_MAX_CONFIG_SIZE raises the bound)", limit)
	}
	return data, nil
}

// checkExpansion reports, at the alias that contributes most, a document
// whose aliases expand to more values than the bound, before anything
// decodes it (validate then says what test would run into). It counts
// with one memo per node, so a billion laughs costs a walk of its lines.
func (d *decoder) checkExpansion(body ast.Node) {
	limit, err := limitFromEnv("NIGHTJAR_MAX_CONFIG_VALUES", DefaultMaxConfigValues)
	if err != nil {
		d.errAt(nil, "", "%v", err)
		return
	}
	c := aliasCount{d: d, memo: map[ast.Node]int64{}, limit: limit}
	if total := c.size(body); total > limit {
		d.errAt(c.worst.GetToken(), "an anchor repeated by aliases that repeat it again multiplies; write the values out or reuse less",
			"alias *%s expands to %s values, and the config to more than %d (NIGHTJAR_MAX_CONFIG_VALUES)",
			c.worst.Value.GetToken().Value, countText(c.worstSize, limit), limit)
	}
}

// aliasCount counts the values nodes stand for with aliases expanded,
// saturating just past limit.
type aliasCount struct {
	d         *decoder
	memo      map[ast.Node]int64
	limit     int64
	worst     *ast.AliasNode
	worstSize int64
}

func countText(n, limit int64) string {
	if n > limit {
		return fmt.Sprintf("more than %d", limit)
	}
	return strconv.FormatInt(n, 10)
}

func (c *aliasCount) size(n ast.Node) int64 {
	if n == nil {
		return 0
	}
	if v, ok := c.memo[n]; ok {
		return v // -1 while n is being counted: an alias within its anchor, which decode reports
	}
	c.memo[n] = -1
	var total int64 = 1
	add := func(m ast.Node) {
		if s := c.size(m); s > 0 {
			total = min(total+s, c.limit+1)
		}
	}
	switch t := n.(type) {
	case *ast.DocumentNode:
		total = c.size(t.Body)
	case *ast.AnchorNode:
		total = c.size(t.Value)
	case *ast.TagNode:
		total = c.size(t.Value)
	case *ast.AliasNode:
		total = 0
		if target, ok := c.d.anchors[t.Value.GetToken().Value]; ok {
			total = max(c.size(target), 0)
		}
		if c.worst == nil || total >= c.worstSize { // on a tie the later: the use, after the anchors
			c.worst, c.worstSize = t, total
		}
	case *ast.MappingNode:
		for _, v := range t.Values {
			add(v)
		}
	case *ast.MappingValueNode:
		add(t.Key)
		add(t.Value)
	case *ast.SequenceNode:
		for _, v := range t.Values {
			add(v)
		}
	}
	c.memo[n] = total
	return total
}
