"""The Textual front end. Renders core TurnEvents; holds no chat logic of its own."""
