//! Where bundles come from. Today: a folder in the `system/` +
//! `tenants/<tenant>/` layout, read on start-up and on reload.

pub mod layout;
