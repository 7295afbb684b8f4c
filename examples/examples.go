// Package examples embeds the example projects that `nightjar init` writes
// and the README runs.
package examples

import "embed"

// Chatbot is the chatbot example project: nightjar.yaml and data/.
//
//go:embed chatbot/nightjar.yaml chatbot/helpdesk.yaml chatbot/data
var Chatbot embed.FS
