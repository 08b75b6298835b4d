//! Account management for administrators.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use companion_domain::Role;
use maud::html;
use serde::Deserialize;

use super::{Client, Me, Nav, PageResult, layout, notice};
use crate::Shared;
use crate::api::Query;
use crate::api::users::{NewUser, UserChange, do_create_user, do_update_user};
use crate::auth::audit_record;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub pesan: Option<String>,
}

fn back(msg: &str) -> axum::response::Response {
    super::redirect_with_notice("/pengguna", msg)
}

pub async fn page(State(state): State<Shared>, Me(me): Me, Query(n): Query<Notice>) -> PageResult {
    let users = state.db.list_users().await?;
    // WhatsApp numbers of enabled users, by username.
    let mut phones = std::collections::HashMap::new();
    for role in Role::ALL {
        for (username, _, phone) in state.db.users_with_phone(role.as_str()).await? {
            phones.insert(username, phone);
        }
    }
    let mut niks = std::collections::HashMap::new();
    for u in users.iter().filter(|u| u.role == Role::Official) {
        if let Some(nik) = state.db.user_nik(u.id).await? {
            niks.insert(u.id, nik);
        }
    }
    let content = html! {
        h1 { "Pengguna" }
        (notice(n.pesan.as_deref()))
        section.card {
            h2 { "Tambah pengguna" }
            form.filters method="post" action="/pengguna" {
                input type="hidden" name="csrf" value=(me.csrf());
                input name="username" placeholder="nama.pengguna" required aria-label="Nama pengguna";
                input name="display_name" placeholder="Nama lengkap" aria-label="Nama lengkap";
                // The least role is preselected: granting more is a deliberate choice.
                select name="role" aria-label="Peran" { @for r in Role::ALL { option value=(r.as_str()) selected[r == Role::default()] { (r.label()) } } }
                input name="password" type="password" placeholder="Kata sandi (kosong: dibuatkan)" autocomplete="new-password" aria-label="Kata sandi";
                button.primary type="submit" { "Tambah" }
            }
        }
        div.table-wrap { table.users {
            thead { tr { th { "Nama pengguna" } th { "Nama" } th { "Peran" } th { "NIK (BSrE)" } th { "WhatsApp" } th { "Status" } th {} } }
            tbody { @for u in &users {
                tr {
                    td { (u.username) } td { (u.display_name) }
                    td {
                        form.inline method="post" action={ "/pengguna/" (u.id) } {
                            input type="hidden" name="csrf" value=(me.csrf());
                            select name="role" aria-label="Peran" { @for r in Role::ALL { option value=(r.as_str()) selected[r == u.role] { (r.label()) } } }
                            button.link type="submit" { "Ubah" }
                        }
                    }
                    td {
                        @if u.role == Role::Official {
                            form.inline method="post" action={ "/pengguna/" (u.id) } {
                                input type="hidden" name="csrf" value=(me.csrf());
                                // Only the last digits are shown: a NIK is personal data.
                                input name="nik" inputmode="numeric" pattern="[0-9]{16}" maxlength="16" aria-label="NIK"
                                    placeholder=(niks.get(&u.id).map(|n: &String| format!("…{}", n.chars().skip(n.chars().count().saturating_sub(4)).collect::<String>())).unwrap_or_else(|| "belum diisi".into()));
                                button.link type="submit" { "Simpan" }
                            }
                        } @else { "—" }
                    }
                    td {
                        form.inline.user-phone method="post" action={ "/pengguna/" (u.id) } {
                            input type="hidden" name="csrf" value=(me.csrf());
                            input name="telepon" inputmode="tel" aria-label="Nomor WhatsApp" placeholder="08… (kosong: hapus)"
                                value=(phones.get(&u.username).map(String::as_str).unwrap_or(""));
                            button.link type="submit" { "Simpan" }
                        }
                    }
                    td { @if u.disabled { "Nonaktif" } @else { "Aktif" } }
                    td {
                        form.inline method="post" action={ "/pengguna/" (u.id) } {
                            input type="hidden" name="csrf" value=(me.csrf());
                            input type="hidden" name="disabled" value=(if u.disabled { "false" } else { "true" });
                            button.link.danger type="submit" { @if u.disabled { "Aktifkan" } @else { "Nonaktifkan" } }
                        }
                    }
                }
            } }
        } }
    };
    Ok(layout(&me, Nav::Users, "Pengguna", content).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    pub username: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: String,
    pub password: Option<String>,
}

pub async fn create(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Form(f): Form<CreateForm>,
) -> PageResult {
    let role = match f.role.trim() {
        "" => Role::default(),
        r => match Role::parse(r) {
            Some(r) => r,
            None => return Ok(back("Peran tidak dikenal.")),
        },
    };
    let body = NewUser {
        username: f.username,
        display_name: f.display_name,
        role,
        password: f.password,
    };
    Ok(match do_create_user(&state, &me, &addr, body).await {
        Ok(c) => match c.generated_password {
            Some(p) => back(&format!(
                "Pengguna {} dibuat. Kata sandi awal: {p}",
                c.user.username
            )),
            None => back(&format!("Pengguna {} dibuat.", c.user.username)),
        },
        Err(e) if e.status.is_client_error() => back(&e.message),
        Err(e) => return Err(e.into()),
    })
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    pub role: Option<String>,
    pub disabled: Option<String>,
    pub display_name: Option<String>,
    pub nik: Option<String>,
    /// The user's WhatsApp number (empty clears it).
    pub telepon: Option<String>,
}

pub async fn update(
    State(state): State<Shared>,
    Me(me): Me,
    Client(addr): Client,
    Path(id): Path<String>,
    Form(f): Form<UpdateForm>,
) -> PageResult {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(back("Pengguna tidak ditemukan."));
    };
    if let Some(raw) = f.telepon.as_deref() {
        let phone = match raw.trim() {
            "" => None,
            t => match companion_notify::phone::normalize(t) {
                Ok(p) => Some(p),
                Err(e) => return Ok(back(&format!("Nomor WhatsApp tidak disimpan: {e}."))),
            },
        };
        let Some(user) = state.db.get_user(id).await? else {
            return Ok(back("Pengguna tidak ditemukan."));
        };
        state.db.set_user_phone(id, phone.as_deref()).await?;
        state
            .audit(audit_record(
                Some(&me.user),
                &addr,
                "user.phone",
                Some(("user", id.to_string())),
                serde_json::json!({ "phone_set": phone.is_some() }),
            ))
            .await;
        let only_phone =
            f.role.is_none() && f.disabled.is_none() && f.display_name.is_none() && f.nik.is_none();
        if only_phone {
            return Ok(back(&match phone {
                Some(p) => format!("Nomor WhatsApp {} disimpan: {p}.", user.username),
                None => format!("Nomor WhatsApp {} dihapus.", user.username),
            }));
        }
    }
    let role = match f.role.as_deref() {
        None | Some("") => None,
        Some(r) => match Role::parse(r) {
            Some(r) => Some(r),
            None => return Ok(back("Peran tidak dikenal.")),
        },
    };
    let change = UserChange {
        display_name: f.display_name,
        role,
        disabled: f.disabled.as_deref().map(|d| d == "true"),
        nik: f.nik,
    };
    let result = do_update_user(&state, &me, &addr, id, change).await;
    super::notice_or_error(
        "/pengguna",
        result.map(|u| format!("Pengguna {} diperbarui.", u.username)),
    )
}
