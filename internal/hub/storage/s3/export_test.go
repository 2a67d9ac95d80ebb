package s3

// SpareInUse is how many of d's spare slots parts hold: none once every
// upload closed or committed, whatever failed.
func SpareInUse(d *Driver) int { return len(d.spare) }

// SetSpareSlots gives d n spare slots, before any upload.
func SetSpareSlots(d *Driver, n int) { d.spare = make(chan struct{}, n) }
