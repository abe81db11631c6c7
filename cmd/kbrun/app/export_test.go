package app

// SetDefaultDiagnostics moves the default diagnostics folder (tests keep
// failed runs' folders out of the source tree).
func SetDefaultDiagnostics(dir string) { defaultDiagnostics = dir }
