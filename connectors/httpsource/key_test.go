package httpsource_test

import "github.com/nightjar-etl/nightjar/connectors/internal/httpapi"

func httpsourceAPIKey() httpapi.APIKeyConfig {
	return httpapi.APIKeyConfig{Header: "X-API-Key", Value: apiKey}
}
