// Package all links every connector into a binary: import it for its side
// effects (each connector registers itself in init).
package all

import (
	_ "github.com/nightjar-etl/nightjar/connectors/csvfile"
	_ "github.com/nightjar-etl/nightjar/connectors/files"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
	_ "github.com/nightjar-etl/nightjar/connectors/sqlite"
)
