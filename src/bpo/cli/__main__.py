from bpo.cli.main import main

main()
