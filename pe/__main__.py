from pe.main import cli

cli()
