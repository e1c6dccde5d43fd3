// Command emptygo does nothing: the bench's yardstick for what starting any
// Go program costs, beside /bin/true, when it measures ntlm-group-check.
package main

func main() {}
