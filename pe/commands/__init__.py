"""One module per action. Each defines NAME, HELP, DESCRIPTION, ORDER,
add_arguments(parser) and run(args) -> int; pe.main discovers them."""
