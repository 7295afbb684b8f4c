package phonenumbers

import (
	"os"
	"testing"
)

// loadedAtStart records, before any test runs, whether package
// initialisation loaded the metadata (nightjar's patch: it must not).
var loadedAtStart bool

func TestMain(m *testing.M) {
	loadedAtStart = currentMetadata != nil || len(shortNumberRegionToMetadataMap) > 0
	os.Exit(m.Run())
}

// TestMetadataLoadsOnFirstUse: no metadata is parsed before a function
// needs it, and the first call finds it.
func TestMetadataLoadsOnFirstUse(t *testing.T) {
	if loadedAtStart {
		t.Fatal("the metadata was loaded during package initialisation")
	}
	if got := GetCountryCodeForRegion("DE"); got != 49 {
		t.Fatalf("GetCountryCodeForRegion(DE) = %d, want 49", got)
	}
	if !IsPossibleShortNumberForRegion(mustParse(t, "112", "DE"), "DE") {
		t.Fatal("112 is not a possible short number in DE")
	}
}

func mustParse(t *testing.T, s, region string) *PhoneNumber {
	t.Helper()
	n, err := Parse(s, region)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", s, region, err)
	}
	return n
}
