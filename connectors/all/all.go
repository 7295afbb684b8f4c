// Package all links every connector into a binary: import it for its side
// effects (each connector registers itself in init).
package all

import (
	_ "github.com/nightjar-etl/nightjar/connectors/csvfile"
	_ "github.com/nightjar-etl/nightjar/connectors/files"
	_ "github.com/nightjar-etl/nightjar/connectors/graphql"
	_ "github.com/nightjar-etl/nightjar/connectors/httpsource"
	_ "github.com/nightjar-etl/nightjar/connectors/hubspot"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
	_ "github.com/nightjar-etl/nightjar/connectors/mysql"
	_ "github.com/nightjar-etl/nightjar/connectors/nats"
	_ "github.com/nightjar-etl/nightjar/connectors/parquet"
	_ "github.com/nightjar-etl/nightjar/connectors/postgres"
	_ "github.com/nightjar-etl/nightjar/connectors/rabbitmq"
	_ "github.com/nightjar-etl/nightjar/connectors/salesforce"
	_ "github.com/nightjar-etl/nightjar/connectors/shopify"
	_ "github.com/nightjar-etl/nightjar/connectors/sqlite"
	_ "github.com/nightjar-etl/nightjar/connectors/webhook"
	_ "github.com/nightjar-etl/nightjar/connectors/xlsx"
	_ "github.com/nightjar-etl/nightjar/connectors/xmlfile"
	_ "github.com/nightjar-etl/nightjar/connectors/zendesk"
)
