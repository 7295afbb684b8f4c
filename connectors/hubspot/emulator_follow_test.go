package hubspot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// idOf returns the HubSpot id of object/key, making one on first use.
// Callers hold e.mu.
func (e *emulator) idOf(key string) string {
	if id, ok := e.ids[key]; ok {
		return id
	}
	id := fmt.Sprint(1000 + len(e.ids))
	e.ids[key], e.byID[id] = id, key
	return id
}

// addRecord seeds a record (a company that exists in the account).
func (e *emulator) addRecord(object, key string, props map[string]string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[object+"/"+key] = props
	return e.idOf(object + "/" + key)
}

type objectRef struct {
	ID string `json:"id"`
}

type assocType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

// serveFollowUps answers the batch read, note create and update, and v4
// association create endpoints as documented, with their limits: at most
// 100 inputs, known ids only, 207 with errors naming the failed ids.
func (e *emulator) serveFollowUps(w http.ResponseWriter, r *http.Request, parts []string) (bool, int) {
	e.paths = append(e.paths, r.URL.Path)
	path := strings.Join(parts, "/")
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	fail := func(status int, msg string) (bool, int) {
		writeJSON(w, status, hubError(msg, "VALIDATION_ERROR"))
		return true, status
	}
	switch {
	case len(parts) == 6 && parts[2] == "objects" && parts[5] == "read":
		var body struct {
			IDProperty string      `json:"idProperty"`
			Properties []string    `json:"properties"`
			Inputs     []objectRef `json:"inputs"`
		}
		if err := dec.Decode(&body); err != nil {
			return fail(400, "invalid JSON: "+err.Error())
		}
		if len(body.Inputs) > 100 {
			return fail(400, "too many inputs")
		}
		var results []map[string]any
		var missing []string
		for _, in := range body.Inputs {
			key := parts[3] + "/" + strings.ToLower(in.ID)
			props, ok := e.records[key]
			if !ok {
				missing = append(missing, in.ID)
				continue
			}
			out := map[string]string{}
			for _, p := range body.Properties {
				out[p] = props[p]
			}
			if out[body.IDProperty] == "" {
				out[body.IDProperty] = strings.ToLower(in.ID)
			}
			results = append(results, map[string]any{"id": e.idOf(key), "properties": out})
		}
		resp := map[string]any{"status": "COMPLETE", "results": results}
		status := 200
		if len(missing) > 0 {
			status = 207
			resp["errors"] = []any{map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND",
				"message": "Could not get some objects, they may be deleted or not exist.", "context": map[string][]string{"ids": missing}}}
		}
		writeJSON(w, status, resp)
		return true, status
	case path == "crm/v3/objects/notes/batch/create":
		e.noteRequests++
		var body struct {
			Inputs []struct {
				ObjectWriteTraceID string            `json:"objectWriteTraceId"`
				Properties         map[string]string `json:"properties"`
				Associations       []struct {
					To    objectRef   `json:"to"`
					Types []assocType `json:"types"`
				} `json:"associations"`
			} `json:"inputs"`
		}
		if err := dec.Decode(&body); err != nil {
			return fail(400, "invalid JSON: "+err.Error())
		}
		if len(body.Inputs) > 100 {
			return fail(400, "too many inputs")
		}
		var results []map[string]any
		for _, in := range body.Inputs {
			if in.Properties["hs_timestamp"] == "" || len(in.Associations) != 1 || len(in.Associations[0].Types) != 1 {
				return fail(400, "hs_timestamp and one association are required")
			}
			a := in.Associations[0]
			if _, ok := e.byID[a.To.ID]; !ok || a.Types[0].TypeID != 202 || a.Types[0].Category != "HUBSPOT_DEFINED" {
				return fail(400, fmt.Sprintf("bad association %+v", a))
			}
			id := fmt.Sprintf("n%d", 1+len(e.noteLinks))
			e.notes[id], e.noteLinks[id] = in.Properties, a.To.ID
			results = append(results, map[string]any{"id": id, "objectWriteTraceId": in.ObjectWriteTraceID, "properties": in.Properties})
		}
		writeJSON(w, 201, map[string]any{"status": "COMPLETE", "results": results})
		return true, 201
	case path == "crm/v3/objects/notes/batch/update":
		e.noteRequests++
		var body struct {
			Inputs []struct {
				ID                 string            `json:"id"`
				ObjectWriteTraceID string            `json:"objectWriteTraceId"`
				Properties         map[string]string `json:"properties"`
			} `json:"inputs"`
		}
		if err := dec.Decode(&body); err != nil {
			return fail(400, "invalid JSON: "+err.Error())
		}
		var results []map[string]any
		var missing []string
		for _, in := range body.Inputs {
			if _, ok := e.notes[in.ID]; !ok {
				missing = append(missing, in.ID)
				continue
			}
			e.notes[in.ID] = in.Properties
			results = append(results, map[string]any{"id": in.ID, "properties": in.Properties})
		}
		resp := map[string]any{"status": "COMPLETE", "results": results}
		status := 200
		if len(missing) > 0 {
			status = 207
			resp["errors"] = []any{map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND",
				"message": "Could not get some NOTE objects", "context": map[string][]string{"ids": missing}}}
		}
		writeJSON(w, status, resp)
		return true, status
	case len(parts) == 7 && parts[1] == "v4" && parts[2] == "associations" && parts[5] == "batch" && parts[6] == "create":
		var body struct {
			Inputs []struct {
				From  objectRef   `json:"from"`
				To    objectRef   `json:"to"`
				Types []assocType `json:"types"`
			} `json:"inputs"`
		}
		if err := dec.Decode(&body); err != nil {
			return fail(400, "invalid JSON: "+err.Error())
		}
		if len(body.Inputs) > 100 {
			return fail(400, "too many inputs")
		}
		var results, errs []map[string]any
		for _, in := range body.Inputs {
			from, okFrom := e.byID[in.From.ID]
			to, okTo := e.byID[in.To.ID]
			if !okFrom || !okTo || !strings.HasPrefix(from, parts[3]+"/") || !strings.HasPrefix(to, parts[4]+"/") {
				return fail(400, fmt.Sprintf("unknown ids %s → %s", in.From.ID, in.To.ID))
			}
			if len(in.Types) != 1 || in.Types[0].TypeID != 279 {
				return fail(400, fmt.Sprintf("bad types %+v", in.Types))
			}
			if msg, bad := e.linkFail[in.From.ID]; bad {
				errs = append(errs, map[string]any{"status": "error", "category": "VALIDATION_ERROR", "message": msg,
					"context": map[string][]string{"fromObjectId": {in.From.ID}}})
				continue
			}
			e.links[in.From.ID+"->"+in.To.ID] = true
			var fromNum, toNum int
			fmt.Sscan(in.From.ID, &fromNum)
			fmt.Sscan(in.To.ID, &toNum)
			results = append(results, map[string]any{"fromObjectTypeId": "0-1", "fromObjectId": fromNum,
				"toObjectTypeId": "0-2", "toObjectId": toNum, "labels": []string{}})
		}
		status := 201
		if len(errs) > 0 {
			status = 207
		}
		writeJSON(w, status, map[string]any{"status": "COMPLETE", "results": results, "errors": errs})
		return true, status
	}
	return false, 0
}
