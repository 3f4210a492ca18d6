from fundflow.cli import app

app()
