//! Directory listings: LIST and MLSx parsing and formatting (see issue 3).
