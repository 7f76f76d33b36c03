"""The course's autograder: checks students' functions against :mod:`reference` from outside
the student's process (see ../shared/DESIGN.md, "The trust boundary")."""
