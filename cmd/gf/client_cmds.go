package main

// clientCommands lists the commands that talk to a control plane over its
// REST API.
func clientCommands() []*command {
	return nil
}
