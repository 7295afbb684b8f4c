package mysql

import "testing"

func TestNativeUUID(t *testing.T) {
	for version, want := range map[string]bool{
		"10.11.19-MariaDB-0+deb12u1": true, "10.7.1-MariaDB": true, "11.4.2-MariaDB": true,
		"10.6.18-MariaDB": false, "8.0.36": false, "9.1.0": false,
	} {
		if got := nativeUUID(version); got != want {
			t.Errorf("nativeUUID(%q) = %v, want %v", version, got, want)
		}
	}
}
