// Command prog is a placeholder package for the shared-path test's compile
// task (never built there).
package main

func main() {}
