package sqlstore

import "testing"

func TestRepeatValues(t *testing.T) {
	t.Parallel()
	one := `INSERT INTO "t" ("a", "b") VALUES (?, ?) ON CONFLICT DO NOTHING`
	for n, want := range map[int]string{
		1: one,
		3: `INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING`,
	} {
		if got := RepeatValues(one, n); got != want {
			t.Errorf("RepeatValues(%d) = %s", n, got)
		}
	}
}
