package sqlite

import "unsafe"

// eface is the layout of an empty interface: its type, then a pointer to
// the value for types that are not pointer-shaped (string, int64, float64).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeWord(x any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&x)).typ }

var (
	stringType  = typeWord("")
	int64Type   = typeWord(int64(0))
	float64Type = typeWord(float64(0))
)

// ref returns *p as an interface value without copying it: the interface
// points at *p, where converting would allocate a copy for every value (a
// tenth of the time of a load of strings went to that).
//
// The caller must not change *p while the interface is in use: insertRows
// holds such values only for the duration of one Exec, and the batch is
// not touched meanwhile.
func ref[T string | int64 | float64](p *T) any {
	var typ unsafe.Pointer
	switch any(p).(type) {
	case *string:
		typ = stringType
	case *int64:
		typ = int64Type
	case *float64:
		typ = float64Type
	}
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, unsafe.Pointer(p)
	return v
}
