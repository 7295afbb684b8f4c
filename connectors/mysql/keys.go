package mysql

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

// exactCollations compare strings byte for byte, trailing spaces
// included: MariaDB's nopad_bin, MySQL 8's 0900_bin. utf8mb4_bin is not
// among them: it is PAD SPACE, so that "a" equals "a ".
var exactCollations = []string{"utf8mb4_nopad_bin", "utf8mb4_0900_bin"}

// keyCollation returns the first of exactCollations the server has, ""
// when it has none.
func keyCollation(ctx context.Context, q sqlx.QueryerContext) (string, error) {
	var names []string
	err := sqlx.SelectContext(ctx, q, &names,
		"SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?, ?)", exactCollations[0], exactCollations[1])
	if err != nil {
		return "", fmt.Errorf("read collations: %w", err)
	}
	for _, want := range exactCollations {
		for _, n := range names {
			if n == want {
				return n, nil
			}
		}
	}
	return "", nil
}

// KeyColumnType is the key column type of a table nightjar creates: a
// string key is VARCHAR(255) under a collation comparing bytes, so that
// keys distinct in the source ("a", "A", "a ", "á") stay distinct rows.
func (b *backend) KeyColumnType(f etl.Field) string {
	if f.Type != etl.TypeString {
		return b.ColumnType(f)
	}
	// utf8mb4_bin pads ("a" equals "a "), but is the best an old server
	// has; checkKeyCollisions catches what it merges.
	collation := cmp.Or(b.keyCollation, "utf8mb4_bin")
	return "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE " + collation
}

// collationName matches a collation's name as information_schema gives
// it, so that it can be spelled into a statement unquoted.
var collationName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// KeyCollisionError is a merge batch whose keys are distinct in the
// source but equal under the collation of the table's key columns: the
// merge would store one row for them.
type KeyCollisionError struct {
	Table string
	// Keys lists groups of colliding keys, each key its columns' values
	// joined with ", "; Existing says the last of a group is in the table.
	Keys     [][]string
	Existing []bool
	// Collations names the key columns compared inexactly and how.
	Collations []string
}

func (e *KeyCollisionError) Error() string {
	pairs := make([]string, len(e.Keys))
	for i, group := range e.Keys {
		where := "in the batch"
		if e.Existing[i] {
			where = "the last in the table"
		}
		quoted := make([]string, len(group))
		for j, k := range group {
			quoted[j] = strconv.Quote(k)
		}
		pairs[i] = strings.Join(quoted[:len(quoted)-1], ", ") + " and " + quoted[len(quoted)-1] + " (" + where + ")"
	}
	return fmt.Sprintf("table %q: distinct keys would merge into one row under the key column collation (%s): %s; make the key columns compare bytes (e.g. COLLATE utf8mb4_nopad_bin) or merge by another key",
		e.Table, strings.Join(e.Collations, ", "), strings.Join(pairs, "; "))
}

// keyColumn is one key column of a merge target, as the collision check
// needs it.
type keyColumn struct {
	quoted string
	// charset and collation are a text column's; exact says the collation
	// compares bytes (or the column is not text).
	charset, collation string
	exact              bool
}

// collate converts expr, a text value, to the column's character set and
// collation, so that it compares as the column does.
func (c keyColumn) collate(expr string) string {
	if c.collation == "" {
		return expr
	}
	return "CONVERT(" + expr + " USING " + c.charset + ") COLLATE " + c.collation
}

// keyColumns reads the collations of table's key columns; exact is false
// when one of them compares strings other than byte for byte.
func (b *backend) keyColumns(ctx context.Context, q sqlx.QueryerContext, table string, keys []string) (cols []keyColumn, exact bool, err error) {
	exact = true
	for _, k := range keys {
		var info []struct {
			Charset   *string `db:"CHARACTER_SET_NAME"`
			Collation *string `db:"COLLATION_NAME"`
		}
		if err := sqlx.SelectContext(ctx, q, &info,
			"SELECT CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?", table, k); err != nil {
			return nil, false, fmt.Errorf("read key column collation: %w", err)
		}
		qk, err := b.QuoteIdent(k)
		if err != nil {
			return nil, false, err
		}
		c := keyColumn{quoted: qk, exact: true}
		if len(info) == 1 && info[0].Collation != nil && info[0].Charset != nil {
			c.charset, c.collation = *info[0].Charset, *info[0].Collation
			if !collationName.MatchString(c.charset) || !collationName.MatchString(c.collation) {
				return nil, false, fmt.Errorf("key column %q has collation %q", k, c.collation)
			}
			c.exact = false
			for _, e := range exactCollations {
				c.exact = c.exact || strings.EqualFold(c.collation, e)
			}
			exact = exact && c.exact
		}
		cols = append(cols, c)
	}
	return cols, exact, nil
}

// checkKeyCollisions refuses a merge batch holding keys that are distinct
// byte for byte but equal under the collation of table's key columns,
// among themselves or with a row of the table. Tables nightjar creates
// have exact key columns and skip the check.
func (b *backend) checkKeyCollisions(ctx context.Context, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	if b.keyCols == nil {
		b.keyCols = map[string][]keyColumn{}
	}
	cols, known := b.keyCols[table]
	if !known {
		var exact bool
		var err error
		if cols, exact, err = b.keyColumns(ctx, tx, table, keys); err != nil {
			return err
		}
		if exact {
			cols = []keyColumn{}
		}
		b.keyCols[table] = cols
	}
	if len(cols) == 0 {
		return nil
	}
	fields := make([]int, len(keys))
	for i, k := range keys {
		fields[i] = batch.Schema.Index(k)
	}
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return err
	}
	collErr := &KeyCollisionError{Table: table}
	for _, c := range cols {
		if !c.exact {
			collErr.Collations = append(collErr.Collations, c.quoted+" "+c.collation)
		}
	}
	// A statement holds up to rowsPer rows of keys.
	rowsPer := max(1, min(2000, b.MaxParams()/len(keys)))
	for start := 0; start < batch.Len(); start += rowsPer {
		end := min(batch.Len(), start+rowsPer)
		query, args := collisionQuery(qt, cols, batch, fields, start, end)
		rows, err := tx.QueryxContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("check merge keys: %w", err)
		}
		for rows.Next() {
			var existing bool
			var a, z string
			if err := rows.Scan(&existing, &a, &z); err != nil {
				rows.Close()
				return fmt.Errorf("check merge keys: %w", err)
			}
			group := strings.Split(a, keySep)
			if existing {
				group = append(group, z)
			}
			collErr.Keys = append(collErr.Keys, group)
			collErr.Existing = append(collErr.Existing, existing)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check merge keys: %w", err)
		}
		if len(collErr.Keys) > 0 {
			return etl.Permanent(collErr)
		}
	}
	return nil
}

// keySep separates the keys of a group in the collision query's answer.
const keySep = "\x1f"

// collisionQuery returns the query listing up to 10 pairs of colliding
// keys among rows [start, end) of batch and between them and table qt:
// (existing, key a, key b), each key its values joined with ", ".
func collisionQuery(qt string, cols []keyColumn, batch *etl.Batch, fields []int, start, end int) (string, []any) {
	var args []any
	var v strings.Builder
	for r := start; r < end; r++ {
		if r > start {
			v.WriteString(" UNION ALL ")
		}
		v.WriteString("SELECT ")
		for i, f := range fields {
			if i > 0 {
				v.WriteString(", ")
			}
			fmt.Fprintf(&v, "? AS k%d", i)
			args = append(args, batch.Cols[f].Value(r))
		}
	}
	// keyText spells a key for the message, as bytes so that MIN and MAX
	// pick two that differ.
	keyText := func(name func(i int) string) string {
		parts := make([]string, len(cols))
		for i := range cols {
			parts[i] = "CAST(" + name(i) + " AS CHAR)"
		}
		return "BINARY CONCAT_WS(', ', " + strings.Join(parts, ", ") + ")"
	}
	vk := func(i int) string { return fmt.Sprintf("k%d", i) }
	vvk := func(i int) string { return fmt.Sprintf("v.k%d", i) }
	tk := func(i int) string { return "t." + cols[i].quoted }
	var group, distinct, same, differ []string
	for i, c := range cols {
		group = append(group, c.collate(vk(i)))
		distinct = append(distinct, "BINARY "+vk(i))
		same = append(same, tk(i)+" = "+c.collate(vvk(i)))
		differ = append(differ, "BINARY "+tk(i)+" <> BINARY "+vvk(i))
	}
	query := "WITH v AS (" + v.String() + ") " +
		"(SELECT 0, GROUP_CONCAT(DISTINCT " + keyText(vk) + " ORDER BY " + keyText(vk) + " SEPARATOR '" + keySep + "'), '' FROM v GROUP BY " + strings.Join(group, ", ") +
		" HAVING COUNT(DISTINCT " + strings.Join(distinct, ", ") + ") > 1 LIMIT 10)" +
		" UNION ALL (SELECT 1, " + keyText(vvk) + ", " + keyText(tk) + " FROM v JOIN " + qt + " t ON " +
		strings.Join(same, " AND ") + " WHERE " + strings.Join(differ, " OR ") + " LIMIT 10)"
	return query, args
}
