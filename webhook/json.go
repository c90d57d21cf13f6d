package webhook

import kjson "sigs.k8s.io/json"

// decodeJSON decodes requests as the API server itself does, with sigs.k8s.io/json:
// case-sensitively, so a field that differs only in case is not silently taken for another, and
// with integers kept as int64 in untyped fields. The CLI decodes with the same library, so the
// webhook and `stowage check` read an object alike.
func decodeJSON(data []byte, into any) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(data, into)
}
