import FCSParser
