package files

// HashReadBytes is how many bytes the hashes of files read while hashed
// read from the files themselves, beyond what their decoders fed them.
func HashReadBytes() int64 { return hashReadBytes.Load() }
