"""``python -m pynatsd`` runs the server, like the ``pynatsd`` command."""

from pynatsd.cli.server_main import main

if __name__ == "__main__":
    main()
