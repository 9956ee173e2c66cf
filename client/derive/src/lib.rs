//! Derive macros for `ember-client`'s typed labels.
//!
//! - `#[derive(LabelSet)]` on a struct with named fields: each field is a label, named after
//!   the field (or `#[label(rename = "...")]`), whose value is the field's `LabelValue`.
//! - `#[derive(LabelValue)]` on a fieldless enum: each variant's value is its name (or
//!   `#[label(rename = "...")]`).
//!
//! The generated code builds a `[&str; N]` on the stack: a typed lookup allocates nothing.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, parse_macro_input};

/// Implements `ember_client::LabelSet` for a struct with named fields.
#[proc_macro_derive(LabelSet, attributes(label))]
pub fn derive_label_set(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    label_set(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Implements `ember_client::LabelValue` for a fieldless enum.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    label_value(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// The `rename` of a `#[label(rename = "...")]` attribute, if any.
fn rename(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut out = None;
    for a in attrs.iter().filter(|a| a.path().is_ident("label")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("rename") {
                out = Some(m.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(m.error("expected `rename = \"...\"`"))
            }
        })?;
    }
    Ok(out)
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !s.starts_with("__")
}

fn label_set(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "LabelSet can only be derived for structs"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(input, "LabelSet needs a struct with named fields"));
    };
    let mut names = Vec::new();
    let mut values = Vec::new();
    for f in &fields.named {
        let ident = f.ident.as_ref().expect("named field");
        let name = match rename(&f.attrs)? {
            Some(n) => n,
            None => ident.to_string().trim_start_matches("r#").to_string(),
        };
        if !is_label_name(&name) {
            return Err(syn::Error::new_spanned(f, format!("{name:?} is not a valid label name")));
        }
        if names.contains(&name) {
            return Err(syn::Error::new_spanned(f, format!("label name {name:?} used twice")));
        }
        names.push(name);
        values.push(quote! { ::ember_client::LabelValue::label_value(&self.#ident) });
    }
    let ty = &input.ident;
    let (ig, tg, wc) = input.generics.split_for_impl();
    Ok(quote! {
        impl #ig ::ember_client::LabelSet for #ty #tg #wc {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            #[inline]
            fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
                f(&[#(#values),*])
            }
        }
    })
}

fn label_value(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "LabelValue can only be derived for fieldless enums"));
    };
    let mut arms = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(v, "LabelValue variants cannot have fields"));
        }
        let ident = &v.ident;
        let value = rename(&v.attrs)?.unwrap_or_else(|| ident.to_string());
        arms.push(quote! { Self::#ident => #value });
    }
    let ty = &input.ident;
    let (ig, tg, wc) = input.generics.split_for_impl();
    Ok(quote! {
        impl #ig ::ember_client::LabelValue for #ty #tg #wc {
            #[inline]
            fn label_value(&self) -> &str {
                match self { #(#arms),* }
            }
        }
    })
}
