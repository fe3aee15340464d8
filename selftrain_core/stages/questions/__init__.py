"""questions: a question writer asks about each chunk; filters keep the questions worth answering."""
