"""`python -m tongban` is the `tongban` command."""

from tongban.channels.cli import main

if __name__ == "__main__":
    main()
