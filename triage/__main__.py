from triage.cli.app import main

main()
