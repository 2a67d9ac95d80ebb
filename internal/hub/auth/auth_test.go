package auth

import (
	"reflect"
	"testing"
)

// parseScopesCases are TestParseScopes's table and FuzzScopes's seeds.
var parseScopesCases = []struct {
	in   []string
	want []ResourceActions
}{
	{[]string{"repository:alice/app:pull,push"}, []ResourceActions{{"repository", "alice/app", []string{"pull", "push"}}}},
	{[]string{"repository:alice/app:pull repository:bob/x:push"}, []ResourceActions{
		{"repository", "alice/app", []string{"pull"}}, {"repository", "bob/x", []string{"push"}}}},
	{[]string{"repository(plugin):alice/p:pull"}, []ResourceActions{{"repository", "alice/p", []string{"pull"}}}},
	{[]string{"registry:catalog:*"}, []ResourceActions{{"registry", "catalog", []string{"*"}}}},
	{[]string{"repository:host:5000/x:pull"}, []ResourceActions{{"repository", "host:5000/x", []string{"pull"}}}},
	{[]string{"", "nonsense", "repository:", "repository:x"}, nil},
}

// Scopes are hostile input: what does not parse is granted nothing, never an error.
func TestParseScopes(t *testing.T) {
	for _, tc := range parseScopesCases {
		if got := parseScopes(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseScopes(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{"alice": true, "a1": true, "bob-smith": true, "a": false, "Alice": false,
		"bob--smith": false, "-bob": false, "bob-": false, "bob.smith": false, "bob_smith": false, "../x": false,
		"admin": false, "library": false, "metrics": false, "healthz": false, "x234567890123456789012345678901234567890": false} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
}
