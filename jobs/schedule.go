package jobs

import "github.com/robfig/cron/v3"

// scheduleParser accepts five fields or six with leading seconds,
// descriptors (@daily, @every 15m) and CRON_TZ= / TZ= prefixes.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job's schedule: standard cron with optional
// seconds, descriptors such as @daily or @every 15m, and an optional
// CRON_TZ=Zone (or TZ=Zone) prefix. The scheduler uses the same parser, so
// what validates here runs there.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return scheduleParser.Parse(spec)
}
