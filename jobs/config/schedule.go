package config

import (
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"
)

// scheduleParser accepts five fields or six with leading seconds,
// descriptors (@daily, @every 15m) and CRON_TZ= / TZ= prefixes.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job's schedule: standard cron with optional
// seconds, descriptors such as @daily or @every 15m, and an optional
// CRON_TZ=Zone (or TZ=Zone) prefix. The scheduler uses the same parser, so
// what validates here runs there.
func ParseSchedule(spec string) (sched cron.Schedule, err error) {
	// robfig/cron slices past the zone up to a space it assumes is there:
	// "TZ=" or "CRON_TZ=Europe/Berlin" alone panicked (found by FuzzLoad).
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, fmt.Errorf("%s names a time zone but no schedule after it (CRON_TZ=Europe/Berlin 0 2 * * *)", spec)
	}
	defer func() {
		if r := recover(); r != nil { // another input the parser does not expect
			sched, err = nil, fmt.Errorf("cannot parse %q: %v", spec, r)
		}
	}()
	return scheduleParser.Parse(spec)
}
