"""trainjob: a TrainJob as one pipeline step (see ``pipetune.bridges``)."""

from pipetune.bridges import main

if __name__ == "__main__":
    main("TrainJob", "trainjob")
