"""Tables, figures and widgets for the book; reads result files and never needs a model loaded."""
