package etl

// SetStageAt sets how many rejects and files a held-back run gathers
// before it stages them, and returns the function restoring it.
func SetStageAt(n int) (restore func()) {
	old := stageAt
	stageAt = n
	return func() { stageAt = old }
}
