package main

// serverCommands lists the commands that run Gigafactory itself.
func serverCommands() []*command {
	return nil
}
