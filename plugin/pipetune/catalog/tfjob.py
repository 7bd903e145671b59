"""tfjob: a TFJob as one pipeline step (see ``pipetune.bridges``)."""

from pipetune.bridges import main

if __name__ == "__main__":
    main("TFJob", "tfjob")
